"""The Discord adapter: discord.py with slash commands, embeds and buttons.

``adapter`` runs the client and implements the port, ``slash`` declares the
application commands, ``interactions`` answers them within Discord's three
seconds, ``parse`` and ``render`` translate between Discord and the neutral
models, ``errors`` maps discord.py failures onto the port's delivery errors.
"""
