"""Helpers shared by the test packages (import as ``from helpers.boards import ...``)."""
