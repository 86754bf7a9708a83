"""The "nothing lost" suite: crash, fault, bad-input and concurrency testing of every command
that writes. See tests/robust/README.md."""
