from distml.cli import main

raise SystemExit(main())
