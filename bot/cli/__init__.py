"""The `threadwise` command line (main), its `digest` commands, the terminal renderer and
`threadwise run`, which starts the Discord and Matrix bots and the digest scheduler."""
