"""The core's ports: what it needs from a chat platform and from a database.

Adapters and storage backends implement them and import the core; the core
never imports an adapter or a backend.
"""
