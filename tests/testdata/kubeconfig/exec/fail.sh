#!/bin/sh
echo "error: you must log in first (run: example-auth login)" >&2
echo "details: token expired" >&2
exit 1
