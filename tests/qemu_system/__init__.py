"""Helpers of the opt-in arm64 kernel capture test (pytest -m qemu_system): see arm64_vm.py."""
