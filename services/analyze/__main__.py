"""Run the analyze service as its own process: python -m services.analyze"""

from services.analyze.app import build
from shared.service import serve

if __name__ == "__main__":
    serve(build())
