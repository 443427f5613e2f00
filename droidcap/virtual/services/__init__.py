"""adb services the virtual device implements: one module per service family."""
