"""Run the intake service with the host and port from its settings."""

from gatehouse.web import serve
from intake.settings import IntakeSettings

if __name__ == "__main__":
    serve("intake.main:create_app", IntakeSettings())
