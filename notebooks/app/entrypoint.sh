#!/bin/sh
# The sample app. Given arguments (a task definition's or RunTask override's `command`), it runs them in its
# place, as official images' entry points do: `exec "$@"`, so their exit code is the task's.
# Without arguments: APP_MODE=job (default) prints a few lines, waits APP_SECONDS, exits with APP_EXIT_CODE;
# APP_MODE=server serves /app/www over HTTP on APP_PORT (8080) until stopped.
set -e
if [ "$#" -gt 0 ]; then
  exec "$@"
fi
echo "fargate-lab sample app ${APP_VERSION}: mode=${APP_MODE} host=$(hostname) user=$(id -u)"
echo "started at $(date -u +%Y-%m-%dT%H:%M:%SZ)"
env | grep -E '^(APP_|ECS_|AWS_REGION)' | sort || true

if [ "${APP_MODE}" = "server" ]; then
  echo "serving /app/www (version ${APP_VERSION}) on port ${APP_PORT}"
  exec httpd -f -v -p "${APP_PORT}" -h /app/www
fi

echo "working for ${APP_SECONDS} s"
sleep "${APP_SECONDS}"
echo "done, exit code ${APP_EXIT_CODE}"
exit "${APP_EXIT_CODE}"
