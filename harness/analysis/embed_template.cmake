# Writes INPUT (a text file) into OUTPUT as a C++ raw string, allocmeter::NAME (default:
# report_page_template).
if(NOT NAME)
  set(NAME report_page_template)
endif()
file(READ ${INPUT} text)
string(FIND "${text}" ")template\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw string's delimiter )template\"")
endif()
file(WRITE ${OUTPUT} "// Generated from ${INPUT} by embed_template.cmake; edit that file.\nnamespace allocmeter {\nextern const char* const ${NAME};\nconst char* const ${NAME} = R\"template(${text})template\";\n}\n")
