"""The ``polypnet`` command tree; nothing inside polypnet imports this package."""
