"""distml components: one folder per component, each with a plain-Python core, a CLI
subcommand (the container entrypoint) and a KFP wrapper."""
