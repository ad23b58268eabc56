"""The Discord adapter: the bot (app), the glue every cog shares, rendering, history
reading and the digest publisher. The cogs themselves live in the top-level `cogs/`.

Import the modules directly (`bot.discord_app.app`, `bot.discord_app.glue`, ...): this
package file imports nothing, so a cog importing the glue never loads the bot class.
"""
