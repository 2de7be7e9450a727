"""The host harness: build, flash and profile generated models on boards; deploy end to end."""
