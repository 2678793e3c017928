"""Run the governance service with the host and port from its settings."""

from gatehouse.web import serve
from governance.settings import GovernanceSettings

if __name__ == "__main__":
    serve("governance.main:create_app", GovernanceSettings())
