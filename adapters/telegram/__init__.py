"""Telegram adapter on python-telegram-bot.

``adapter`` owns the Application lifecycle and all Bot API I/O, ``parse``
turns updates into command data, ``render`` turns neutral replies into
Telegram HTML and inline keyboards, ``errors`` maps Bot API failures onto the
port's delivery errors. The core finds it through its entry point (``plugin``).
"""
