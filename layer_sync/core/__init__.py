"""The shared vocabulary: errors and exit codes, issues, text helpers, the key's redaction, the
run's control. Imports nothing of layer_sync above it."""
