import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "engine"))  # netgen, graphgen
sys.path.insert(0, str(Path(__file__).parent))  # finite_diff
