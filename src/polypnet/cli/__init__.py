"""Command logic behind ``scripts/*.py``; nothing inside polypnet imports this package."""
