from aliasgate.cli import main

main()
