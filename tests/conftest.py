import sys
from pathlib import Path

# tests/digits.py (synthetic digits) is importable from every test file.
sys.path.insert(0, str(Path(__file__).parent))
