from loyalty.exceptions import ProgramNotConfigured
from loyalty.services.program import program_get


def program(request) -> dict:
    try:
        return {"program": program_get()}
    except ProgramNotConfigured:
        return {"program": None}
