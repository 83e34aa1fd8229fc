#!/bin/sh
# The sample app. APP_MODE=job (default): print a few lines, wait APP_SECONDS, exit with APP_EXIT_CODE.
# APP_MODE=server: serve /app/www over HTTP on APP_PORT (8080) until stopped.
set -e
echo "fargate-lab sample app: mode=${APP_MODE} host=$(hostname) user=$(id -u)"
echo "started at $(date -u +%Y-%m-%dT%H:%M:%SZ)"
env | grep -E '^(APP_|ECS_|AWS_REGION)' | sort || true

if [ "${APP_MODE}" = "server" ]; then
  echo "serving /app/www on port ${APP_PORT}"
  exec httpd -f -v -p "${APP_PORT}" -h /app/www
fi

echo "working for ${APP_SECONDS} s"
sleep "${APP_SECONDS}"
echo "done, exit code ${APP_EXIT_CODE}"
exit "${APP_EXIT_CODE}"
