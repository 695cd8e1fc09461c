from loyalty.selectors import program_get_or_none


def program(request) -> dict:
    return {"program": program_get_or_none()}
