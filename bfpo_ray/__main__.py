import sys

from bfpo_ray.cli import main

sys.exit(main())
