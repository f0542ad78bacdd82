#!/bin/sh
# The image's entrypoint: bring LiteAgent's database (LITEAGENT_DATABASE_URL) to the newest
# migration, then run the command (the proxy, a Celery worker or beat). Several containers
# starting together take turns under the migration lock. A database that cannot be reached
# stops the container here, with the reason; compose's restart policy tries again.
set -eu
python -m liteagent.cli db upgrade
exec "$@"
