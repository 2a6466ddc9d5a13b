import sys

from chaos.driver import main

sys.exit(main())
