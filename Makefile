# Shortcuts for the commands in README.md; dev.py does the work, so make is optional.
.PHONY: run test bench

run:
	python3 dev.py run

test:
	python3 dev.py test

bench:
	.venv/bin/python -m bench ledger
