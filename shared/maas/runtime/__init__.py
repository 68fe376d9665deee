"""Model runtimes: loading artifacts into sessions, reading their signatures, running them."""
