"""whereami: report this environment's code location, import path and working directory."""

import json
import os
import sys


def handler(event, context):
    return {
        "statusCode": 200,
        "body": json.dumps(
            {
                "module": __name__,
                "file": os.path.abspath(__file__),
                "path": sys.path,
                "cwd": os.getcwd(),
                "function": context.function_name,
                "connectionId": event["requestContext"]["connectionId"],
                "emulator_importable": _importable("emulator"),
            }
        ),
    }


def _importable(name):
    try:
        __import__(name)
    except ImportError:
        return False
    return True
