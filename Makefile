# Two commands for users: `make demo` and `make test`. Both install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
JOBS   ?= 2

.PHONY: install demo test clean-output

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 oder neuer wird benötigt")'
	@echo "==> Richte virtuelle Umgebung in $(VENV) ein"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip > $(VENV)/install.log 2>&1 \
		|| { cat $(VENV)/install.log; exit 1; }
	@echo "==> Installiere das Kit und seine Abhängigkeiten (Protokoll: $(VENV)/install.log)"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]' >> $(VENV)/install.log 2>&1 \
		|| { cat $(VENV)/install.log; echo "Installation fehlgeschlagen (siehe oben)"; exit 1; }
	@touch $(STAMP)

install: $(STAMP)

demo: install
	@$(BIN)/python -m kit demo --jobs $(JOBS)

test: install
	@$(BIN)/python -m pytest

clean-output:
	rm -rf output/*/ output/index.html
