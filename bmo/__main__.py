from bmo.cli import main

raise SystemExit(main())
