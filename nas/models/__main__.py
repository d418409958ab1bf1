import sys

from nas.models.table import main

sys.exit(main())
