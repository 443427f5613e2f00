"""Widgets of the inspect app; none of them decodes (they read droidcap.tui.model)."""
