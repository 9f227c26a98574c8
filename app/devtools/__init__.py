"""Developer tools: the demo, the threaded test server and the `simulate` command. Nothing in
the product imports this package (import-linter checks it)."""
