"""Run the score service as its own process: python -m services.score"""

from services.score.app import build
from shared.service import serve

if __name__ == "__main__":
    serve(build())
