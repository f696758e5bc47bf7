"""`distml compile`: regenerate every generated file (component.yaml, KFP and Argo YAML)."""

from distml.components.common.errors import DistmlError


def add_arguments(parser):
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if any generated file is missing or out of date"
    )


def run(args):
    from distml.pipelines import generated

    if args.check:
        stale = generated.stale_files()
        if stale:
            raise DistmlError(f"out of date: {', '.join(stale)}; run `distml compile`")
        print("every generated file is up to date")
        return 0
    written = generated.write_all()
    for relative in written:
        print(f"wrote {relative}")
    print(f"{len(written)} file(s) changed" if written else "every generated file was already up to date")
    return 0
