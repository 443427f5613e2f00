"""Screens of the inspect app: the main screen, help, the bad-input message, prompts."""
