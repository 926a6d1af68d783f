#!/bin/sh
echo "Welcome! secret-looking-token-abc123"
