# .proto files compiled at build time (protoc and grpc_cpp_plugin from Debian's
# protobuf-compiler-grpc), for svckit::grpc and the services.
#
#   svckit_protos(OUT_VAR ROOT dir PROTOS a.proto sub/b.proto [PYTHON] [PYTHON_ONLY])
#
# Sets OUT_VAR to the generated C++ sources (messages and gRPC stubs) under build/proto, whose
# headers are included as "a.pb.h", "sub/b.grpc.pb.h". With PYTHON the same files are also
# compiled to Python modules under build/python (the test clients' stubs, target
# svckit_python_protos; flat names: grpc/health/v1/health.proto -> grpc_health_v1_health_pb2);
# PYTHON_ONLY makes no C++ (a .proto some library compiled in already).
set(SVCKIT_PROTO_OUT ${CMAKE_BINARY_DIR}/proto)
set(SVCKIT_PYTHON_PROTO_OUT ${CMAKE_BINARY_DIR}/python)
find_program(GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)
find_program(GRPC_PYTHON_PLUGIN grpc_python_plugin REQUIRED)
if(NOT TARGET svckit_python_protos)
  add_custom_target(svckit_python_protos ALL)
endif()

function(svckit_protos out_var)
  cmake_parse_arguments(P "PYTHON;PYTHON_ONLY" "ROOT" "PROTOS" ${ARGN})
  set(sources)
  foreach(proto ${P_PROTOS})
    string(REGEX REPLACE "\\.proto$" "" stem ${proto})
    set(base ${SVCKIT_PROTO_OUT}/${stem})
    if(NOT P_PYTHON_ONLY)
    add_custom_command(
      OUTPUT ${base}.pb.cc ${base}.pb.h ${base}.grpc.pb.cc ${base}.grpc.pb.h
      COMMAND ${CMAKE_COMMAND} -E make_directory ${SVCKIT_PROTO_OUT}
      COMMAND protobuf::protoc -I ${P_ROOT} --cpp_out=${SVCKIT_PROTO_OUT}
              --grpc_out=${SVCKIT_PROTO_OUT} --plugin=protoc-gen-grpc=${GRPC_CPP_PLUGIN}
              ${P_ROOT}/${proto}
      DEPENDS ${P_ROOT}/${proto}
      COMMENT "protoc ${proto}")
    list(APPEND sources ${base}.pb.cc ${base}.grpc.pb.cc)
    set_source_files_properties(${base}.pb.cc ${base}.grpc.pb.cc PROPERTIES COMPILE_OPTIONS -w)
    endif()
    if(P_PYTHON OR P_PYTHON_ONLY)
      # Flat module names (grpc/health/v1/health.proto -> grpc_health_v1_health_pb2): a module
      # under build/python/grpc/ would stand in for grpcio's own `grpc` package. The .proto's
      # package, and so every name on the wire, stays what it is.
      string(REPLACE "/" "_" flat ${stem})
      set(staged ${CMAKE_BINARY_DIR}/python-protos/${flat}.proto)
      set(py ${SVCKIT_PYTHON_PROTO_OUT}/${flat}_pb2.py)
      add_custom_command(
        OUTPUT ${py} ${SVCKIT_PYTHON_PROTO_OUT}/${flat}_pb2_grpc.py
        COMMAND ${CMAKE_COMMAND} -E make_directory ${SVCKIT_PYTHON_PROTO_OUT}
        COMMAND ${CMAKE_COMMAND} -E copy ${P_ROOT}/${proto} ${staged}
        COMMAND protobuf::protoc -I ${CMAKE_BINARY_DIR}/python-protos
                --python_out=${SVCKIT_PYTHON_PROTO_OUT} --grpc_python_out=${SVCKIT_PYTHON_PROTO_OUT}
                --plugin=protoc-gen-grpc_python=${GRPC_PYTHON_PLUGIN} ${staged}
        DEPENDS ${P_ROOT}/${proto}
        COMMENT "protoc ${proto} for Python (${flat}_pb2)")
      add_custom_target(python_proto_${flat} DEPENDS ${py})
      add_dependencies(svckit_python_protos python_proto_${flat})
    endif()
  endforeach()
  set(${out_var} ${sources} PARENT_SCOPE)
endfunction()
