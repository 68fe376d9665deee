"""Building for AWS: the Lambda layers' requirements, what sam build made and its sizes, the runtime's Python."""
