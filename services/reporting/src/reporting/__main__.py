"""Run the reporting service with the host and port from its settings."""

from gatehouse.web import serve
from reporting.settings import ReportingSettings

if __name__ == "__main__":
    serve("reporting.main:create_app", ReportingSettings())
