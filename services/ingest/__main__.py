"""Run the ingest service as its own process: python -m services.ingest"""

from services.ingest.app import build
from shared.service import serve

if __name__ == "__main__":
    serve(build())
