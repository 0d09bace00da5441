"""Run the publish service as its own process: python -m services.publish"""

from services.publish.app import build
from shared.service import serve

if __name__ == "__main__":
    serve(build())
