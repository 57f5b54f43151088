print("resource-api")
