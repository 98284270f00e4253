print("certctl")
