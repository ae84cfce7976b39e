from odmflow.cli import main

main()
