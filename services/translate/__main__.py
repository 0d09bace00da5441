"""Run the translate service as its own process: python -m services.translate"""

from services.translate.app import build
from shared.service import serve

if __name__ == "__main__":
    serve(build())
