"""taskml: learn and recognise the tasks people perform on video."""
